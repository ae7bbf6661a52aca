print("strait: not built yet")
