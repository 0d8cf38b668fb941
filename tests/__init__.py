"""Makes ``tests/infra`` the package ``tests.infra``, so it cannot shadow the app's ``infra``."""
