"""One module per screen, plus the help screen and the small modal dialogs."""
