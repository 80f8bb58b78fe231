"""The dispatcher: consumes directives and leads from JetStream and turns them into tasks.

It also holds the command-line interface and the `up` command that runs the
whole loop in one process.
"""
