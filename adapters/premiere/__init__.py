"""Premiere Pro: ``route`` renders a Premiere export and writes back the format that version imports."""
