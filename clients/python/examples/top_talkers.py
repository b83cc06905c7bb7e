"""Print the processes with the most connections, once.

    python3 examples/top_talkers.py [N]
"""
import sys

import periscope

limit = int(sys.argv[1]) if len(sys.argv) > 1 else 10
with periscope.connect() as client:
    view = client.get("processes")
    ranked = sorted(view.nodes.values(),
                    key=lambda n: -(n.metrics.get("connectionsIn", 0) + n.metrics.get("connectionsOut", 0)))
    for node in ranked[:limit]:
        m = node.metrics
        print(f"{node.label:<20} in={m.get('connectionsIn', 0):<5} out={m.get('connectionsOut', 0):<5} {node.id}")
