"""One map (一张图): layer features as GeoJSON, a check's map, versioned vector tiles and OGC API – Features."""
