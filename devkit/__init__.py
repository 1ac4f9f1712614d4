"""The tooling behind `invoke`: commands over the console, bench and checks, over delivery, over stack access, over
the engines, over core helpers; each area imports only from itself and the areas below it (import-linter)."""
