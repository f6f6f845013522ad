"""Media: finding and cutting the song, photo checks, probing and the lip-sync measure."""
