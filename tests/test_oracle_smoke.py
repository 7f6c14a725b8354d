from oracle import check


def test_mul_broadcast():
    check(lambda a, b: a * b, shapes=[(2, 3), (3,)])


def test_matmul_batched():
    check(lambda a, b: a @ b, shapes=[(2, 3, 4), (4, 5)])
