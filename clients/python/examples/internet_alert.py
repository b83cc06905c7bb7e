"""Alert when a process opens a connection to the Internet.

    python3 examples/internet_alert.py            # runs until Ctrl-C
"""
import periscope

with periscope.connect() as client:
    subscription = client.subscribe("processes", min_interval=0)
    for change in subscription:
        for edge in change.added_edges:
            if edge.target == "pseudo:internet":
                source = subscription.topology.nodes.get(edge.source)
                who = f"{source.label} (pid {source.metadata.get('pid')})" if source else edge.source
                print(f"ALERT: {who} connected to the Internet on port(s) {edge.ports}", flush=True)
