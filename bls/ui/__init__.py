"""Qt only: the therapist's control window and the client's display."""
