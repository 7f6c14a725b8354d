"""Neural-network building blocks: modules, layers, losses, initialization, functional ops."""
