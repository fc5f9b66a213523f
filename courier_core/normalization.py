"""Input normalisation constants (on the [0, 1] scale) shared by training and the exported graph."""

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
