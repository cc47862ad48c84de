"""Training: LoRA fine-tunes (``lora``), full training on user data (``full``) and the bundled model's own
recipe (``bundled``), all on one loop (``loop``). No heavy imports here.
"""
