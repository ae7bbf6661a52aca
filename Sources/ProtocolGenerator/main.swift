print("strait-protocol-gen: not built yet")
