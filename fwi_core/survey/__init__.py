"""What comes from outside the engine: velocity models (generators, files, smoothing, trends). SEG-Y field data and geometry from headers are to land here."""
