"""Synthetic remote-sensing world: procedural aerial scenes written in the real dataset formats (the embedded
default dataset; see `data_engine.synth.world`)."""

from data_engine.synth.world import SIZES, synthesize

__all__ = ["SIZES", "synthesize"]
