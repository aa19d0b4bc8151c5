"""How the domain runs in the process: off or on the event loop, batched writers, remote fetches.

Nothing in here decides anything about identities or tokens; core/ stays pure domain and
reaches these only through the ports assemble.py wires.
"""
