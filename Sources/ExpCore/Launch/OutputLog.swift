import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The live output log: everything while it fits, and past a limit only its head on disk and
/// its tail in memory, written out when the command ends. Writing a gigabyte of progress
/// output to disk would slow the command down, and a record keeps only head and tail anyway.
final class OutputLog {
    private let fd: Int32
    /// Bytes of the head written to disk, and how many may be.
    private var written = 0
    private let headLimit: Int
    private let tailLimit: Int
    /// The tail ring: `pushed` bytes went into it in total; the newest end at `ringEnd`.
    private var ring: UnsafeMutableRawBufferPointer?
    private var ringEnd = 0
    private var pushed = 0
    private(set) var isOpen = true

    /// - Parameter limit: the most bytes the log may hold (nil: no limit). Past it, the first
    ///   quarter (at most 1 MiB) is the head and the rest the tail.
    init(fd: Int32, limit: Int?) {
        self.fd = fd
        if let limit, limit > 0 {
            headLimit = min(1 << 20, max(1, limit / 4))
            tailLimit = max(1, limit - headLimit)
        } else {
            headLimit = Int.max
            tailLimit = 0
        }
    }

    deinit { ring?.deallocate() }

    /// Where the next chunk of output should be read to: once the head is on disk, straight
    /// into the tail ring (so taking it in copies nothing), else `scratch`. At most
    /// `scratch.count` bytes, fewer where the ring wraps.
    func readTarget(scratch: UnsafeMutableRawBufferPointer) -> UnsafeMutableRawBufferPointer {
        guard isOpen, written >= headLimit, tailLimit > 0 else { return scratch }
        let buffer = ringBuffer()
        return UnsafeMutableRawBufferPointer(
            rebasing: buffer[ringEnd..<(ringEnd + min(scratch.count, tailLimit - ringEnd))])
    }

    /// Takes in a chunk read to where `readTarget` said.
    func append(_ chunk: UnsafeRawBufferPointer) {
        guard let base = chunk.baseAddress, !chunk.isEmpty else { return }
        if let ring, base == UnsafeRawPointer(ring.baseAddress! + ringEnd), isOpen {
            ringEnd = (ringEnd + chunk.count) % tailLimit
            pushed += chunk.count
            return
        }
        append(base, chunk.count)
    }

    private func ringBuffer() -> UnsafeMutableRawBufferPointer {
        if let ring { return ring }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: tailLimit, alignment: 64)
        ring = buffer
        return buffer
    }

    /// Appends a chunk of output.
    func append(_ base: UnsafeRawPointer, _ count: Int) {
        guard isOpen else { return }
        var start = 0
        if written < headLimit {
            let part = min(count, headLimit - written)
            if writeAll(fd, base, part) != 0 {
                isOpen = false
                return
            }
            written += part
            start = part
        }
        if start < count { push(base + start, count - start) }
    }

    private func push(_ base: UnsafeRawPointer, _ count: Int) {
        let buffer = ringBuffer()
        var source = base
        var remaining = count
        if remaining > tailLimit {
            // Only the newest tailLimit bytes can survive.
            source += remaining - tailLimit
            pushed += remaining - tailLimit
            remaining = tailLimit
        }
        while remaining > 0 {
            let part = min(remaining, tailLimit - ringEnd)
            (buffer.baseAddress! + ringEnd).copyMemory(from: source, byteCount: part)
            ringEnd = (ringEnd + part) % tailLimit
            source += part
            remaining -= part
            pushed += part
        }
    }

    /// Writes the tail (after a line saying how much was left out) once output has ended.
    func finish() {
        guard isOpen, let buffer = ring, pushed > 0, let base = buffer.baseAddress else { return }
        let kept = min(pushed, tailLimit)
        let omitted = pushed - kept
        if omitted > 0 {
            let total = written + pushed
            let marker =
                "\n[exp: \(omitted) bytes of output left out here; the log was \(total) bytes, over exp.maxLogSize]\n"
            _ = marker.utf8CString.withUnsafeBufferPointer { writeAll(fd, $0.baseAddress!, $0.count - 1) }
        }
        if pushed < tailLimit {
            _ = writeAll(fd, base, pushed)
        } else {
            _ = writeAll(fd, base + ringEnd, tailLimit - ringEnd)
            _ = writeAll(fd, base, ringEnd)
        }
        isOpen = false
    }
}
