"""The bundled sprite model's recipe: its data set (``data``) and training/export (``trainer``)."""
