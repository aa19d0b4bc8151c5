from . import broker
