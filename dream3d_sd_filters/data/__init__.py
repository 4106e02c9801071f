"""Training data: the 4-channel image encoding and the sliced-volume dataset."""

from .encoding import ENCODINGS, decode_images, encode_images

__all__ = ["ENCODINGS", "decode_images", "encode_images"]
