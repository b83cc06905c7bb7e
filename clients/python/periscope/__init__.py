"""Scripting client for periscoped: what is this machine running, and who talks to whom.

    import periscope
    with periscope.connect() as client:
        view = client.get("processes")
        for edge in view.edges.values():
            print(view.nodes[edge.source].label, "->", view.nodes[edge.target].label, edge.ports)

Standard library only. See README.md and examples/.
"""
from .client import Client, RPCError, DaemonNotRunning, UntrustedDaemon, connect, default_socket_path
from .model import Node, Edge, View, Change, Diff, Topology

__all__ = [
    "Client", "RPCError", "DaemonNotRunning", "UntrustedDaemon", "connect", "default_socket_path",
    "Node", "Edge", "View", "Change", "Diff", "Topology",
]
