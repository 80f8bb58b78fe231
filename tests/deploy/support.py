"""What the deployment files may name: CLI commands and setting variables."""

from dispatcher.cli.main import COMMANDS
from griddispatch.settings import Settings
from tests.deploy.settings_doc import env_name

# Variables the deployment files set for programs other than griddispatch.
FOREIGN_VARIABLES = {"POSTGRES_PASSWORD", "GRIDDISPATCH_DB_PASSWORD"}


def setting_variables() -> set[str]:
    """Return the environment variable of every setting."""
    return {env_name(name, field) for name, field in Settings.model_fields.items()}


def cli_commands() -> set[str]:
    """Return the `griddispatch` subcommands that take no further action word."""
    return {command for command, action in COMMANDS if action is None}
