import Testing
import CPeriscopeLinux

private func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }

/// psc_perf_ring_drain on a hand-built ring (no kernel): wrap-around, batching, lost and corrupt records.
extension KernelTests.SocketStateMonitorTests {
    struct PerfRing {
        /// A fake mapping: one metadata page (data_head at 1024, data_tail at 1032, as in
        /// struct perf_event_mmap_page) followed by a 4 KiB data area.
        final class FakeRing {
            let page = 4096
            let base: UnsafeMutableRawPointer
            var ring = psc_perf_ring()
            var head: UInt64

            init(start: UInt64) {
                base = .allocate(byteCount: page * 2, alignment: page)
                base.initializeMemory(as: UInt8.self, repeating: 0, count: page * 2)
                ring.base = base
                ring.mapped = page * 2
                ring.data_size = page
                head = start
                base.storeBytes(of: start, toByteOffset: 1024, as: UInt64.self)
                base.storeBytes(of: start, toByteOffset: 1032, as: UInt64.self)
            }

            deinit { base.deallocate() }

            var tail: UInt64 { base.load(fromByteOffset: 1032, as: UInt64.self) }

            func append(_ bytes: [UInt8]) {
                for (i, b) in bytes.enumerated() {
                    base.storeBytes(of: b, toByteOffset: page + Int((head + UInt64(i)) % UInt64(page)), as: UInt8.self)
                }
                head += UInt64(bytes.count)
                base.storeBytes(of: head, toByteOffset: 1024, as: UInt64.self)
            }
        }

        /// PERF_RECORD_SAMPLE (type 9) with pid, tid, time and a `payload`-byte raw area.
        static func sample(pid: UInt32, time: UInt64, payload: Int) -> [UInt8] {
            let rawSize = UInt32(payload)
            var body = le(pid) + le(pid + 1) + le(time) + le(rawSize)
            body += (0..<payload).map { UInt8(truncatingIfNeeded: $0 &+ Int(pid)) }
            while (8 + body.count) % 8 != 0 { body.append(0) }
            return le(UInt32(9)) + le(UInt16(0)) + le(UInt16(8 + body.count)) + body
        }

        @Test func drainReassemblesRecordsAcrossTheEndOfTheRing() {
            let fake = FakeRing(start: 4096 * 3 - 50)      // the first record straddles the end
            fake.append(Self.sample(pid: 10, time: 100, payload: 76))
            // PERF_RECORD_LOST (type 2): id 7, lost 5
            fake.append(le(UInt32(2)) + le(UInt16(0)) + le(UInt16(24)) + le(UInt64(7)) + le(UInt64(5)))
            fake.append(Self.sample(pid: 20, time: 200, payload: 76))
            fake.append(Self.sample(pid: 30, time: 300, payload: 200))    // longer than PSC_PERF_RAW_MAX
            var out = [psc_perf_sample](repeating: psc_perf_sample(), count: 2)
            var lost: UInt64 = 0
            let first = psc_perf_ring_drain(&fake.ring, &out, 2, &lost)
            #expect(first == 2 && lost == 5)
            #expect(out[0].pid == 10 && out[0].tid == 11 && out[0].time == 100 && out[0].raw_size == 76 && out[0].copied == 76)
            let raw0 = withUnsafeBytes(of: out[0].raw) { Array($0.prefix(76)) }
            #expect(raw0 == (0..<76).map { UInt8($0 + 10) })
            #expect(out[1].pid == 20 && out[1].time == 200)
            let second = psc_perf_ring_drain(&fake.ring, &out, 2, &lost)
            #expect(second == 1 && out[0].pid == 30 && out[0].raw_size == 200 && out[0].copied == UInt32(PSC_PERF_RAW_MAX))
            #expect(fake.tail == fake.head)
            #expect(psc_perf_ring_drain(&fake.ring, &out, 2, &lost) == 0)
        }

        @Test func drainDiscardsACorruptRing() {
            let fake = FakeRing(start: 0)
            fake.append(le(UInt32(9)) + le(UInt16(0)) + le(UInt16(0)) + [UInt8](repeating: 0, count: 16))  // size 0
            var out = [psc_perf_sample](repeating: psc_perf_sample(), count: 4)
            var lost: UInt64 = 0
            #expect(psc_perf_ring_drain(&fake.ring, &out, 4, &lost) == 0)
            #expect(lost == 1 && fake.tail == fake.head)
            fake.append(Self.sample(pid: 1, time: 1, payload: 4000))       // bigger than what is published
            fake.head -= 100
            fake.base.storeBytes(of: fake.head, toByteOffset: 1024, as: UInt64.self)
            #expect(psc_perf_ring_drain(&fake.ring, &out, 4, &lost) == 0 && lost == 2)
        }
    }
}
