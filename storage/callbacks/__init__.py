"""Status callbacks: state changes of a lead's task, POSTed back to the source that sent it."""
