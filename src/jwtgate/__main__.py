"""``python -m jwtgate ...`` runs the command line."""

from jwtgate.cli import main

if __name__ == "__main__":
    main()
