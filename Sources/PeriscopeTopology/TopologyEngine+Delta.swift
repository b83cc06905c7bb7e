extension TopologyEngine {
    /// Folds a change of a few sockets into the state without looking at the others: `removed` leave, `added`
    /// arrive (a socket whose owner was filled in is one of each). For event-driven updates between full
    /// passes (flows seen through socket-state events), whose cost must follow the flows, not the host's
    /// 20,000 sockets.
    ///
    /// Unchanged sockets keep their entries, derived facts and counters (no `tcp_info` is folded: the
    /// connections get no new sample). Returns `false`, changing nothing, when the change is not one this path
    /// handles exactly — a listener comes or goes, or a removed socket is not in the state — so the caller
    /// ingests the whole snapshot instead.
    func applyDelta(removed: [SocketRecord], added: [SocketRecord]) -> Bool {
        if removed.contains(where: ListenerIndex.isListener) || added.contains(where: ListenerIndex.isListener) {
            return false
        }
        // Find every removed socket's entry first: a change that does not fit the state changes nothing.
        var leaving: [SocketEntry] = []
        leaving.reserveCapacity(removed.count)
        for s in removed {
            var e = sockets[SocketKey(s)]
            while let c = e, !c.matches(s) || leaving.contains(where: { $0 === c }) { e = c.next }
            guard let found = e else { return false }
            leaving.append(found)
        }

        generation &+= 1
        let gen = generation
        dirtyEndpoints.removeAll(keepingCapacity: true)
        closed.removeAll(keepingCapacity: true)
        touchedConnections.removeAll(keepingCapacity: true)
        var changedTexts: Set<String> = [], changedIPs: Set<IPAddress> = []

        for entry in leaving {
            let key = SocketKey(entry.record)
            var kept: [SocketEntry] = []
            var e = sockets[key]
            while let c = e {
                e = c.next
                if c !== entry { kept.append(c) }
            }
            sockets[key] = link(kept)
            retire(entry, &changedTexts, &changedIPs)
        }
        var pending: [SocketEntry] = []
        for s in added {
            let entry = SocketEntry(s, generation: gen)
            let key = SocketKey(s)
            entry.next = sockets[key]
            sockets[key] = entry
            register(entry, &changedTexts, &changedIPs)
            if entry.role == .connected { pending.append(entry) }
        }
        // A local address new to a namespace, or a host-internal address that came or went, changes the scopes
        // of other sockets (rare: loopback flows use addresses already there).
        if !changedTexts.isEmpty || !changedIPs.isEmpty {
            for head in sockets.values {
                var e: SocketEntry? = head
                while let c = e {
                    e = c.next
                    guard c.isDerived else { continue }
                    let s = c.record
                    if changedTexts.contains(s.remoteAddress) || c.localIP.map(changedIPs.contains) ?? false
                        || c.remoteIP.map(changedIPs.contains) ?? false {
                        underive(c)
                        pending.append(c)
                    }
                }
            }
        }
        for e in pending where !e.isDerived { derive(e) }
        forgetUnreferenced()
        return true
    }
}

extension TopologyEngine {
    /// Folds the new `tcp_info` counters of sockets already in the state (found by identity; nothing but their
    /// counters changed) into the current generation, after ``applyDelta(removed:added:)``. Each connection with
    /// a member whose counters moved is sampled again from all its members' latest counters, and so is every
    /// connection the last sampling update left moving (see ``movingConnections``), so the connections written
    /// are those a full pass with the same counters would write. Sockets not in the state are skipped; returns
    /// how many.
    @discardableResult
    func applyCounters(_ updates: [SocketRecord]) -> Int {
        let gen = generation
        var missing = 0
        var resampled: [ConnectionState] = []
        for s in updates {
            var e = sockets[SocketKey(s)]
            while let c = e, !c.matches(s) { e = c.next }
            guard let entry = e, entry.role == .connected else {
                missing += 1
                continue
            }
            entry.info = s.tcpInfo
            if let conn = entry.connection { resampled.append(conn) }
        }
        resampled += movingConnections
        movingConnections.removeAll(keepingCapacity: true)
        for conn in resampled where !conn.hasSamples(gen) && connections[conn.id] === conn {
            conn.resample(generation: gen)
            touchedConnections.append(conn)
        }
        return missing
    }
}
