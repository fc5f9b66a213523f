"""Export defaults, importable without torch (the CLI's help shows them)."""

DEFAULT_NAME = "courier"
DEFAULT_OPSET = 17
DEFAULT_DATASET_IMAGES = 16  # catalogue images in the parity check, besides the generated odd-sized ones
