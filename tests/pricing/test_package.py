import pymm.pricing


def test_public_names_resolve():
    for name in pymm.pricing.__all__:
        assert getattr(pymm.pricing, name) is not None
    assert sorted(pymm.pricing.__all__) == pymm.pricing.__all__
