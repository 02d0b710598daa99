"""cuops.convert(model) (placeholder)."""


def convert(model):
    raise NotImplementedError("cuops.convert is not implemented yet")
