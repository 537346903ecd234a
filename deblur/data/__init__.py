"""Data layer: image I/O, GoPro trees and pair sampling, the embedded synthetic dataset."""
