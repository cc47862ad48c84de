"""Training: the bundled sprite model (``bundled``) and its data set (``emoji_data``)."""
