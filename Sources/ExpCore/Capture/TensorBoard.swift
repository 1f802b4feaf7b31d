import Foundation

/// Reads TensorBoard event files (`events.out.tfevents.*`) while the run writes them.
///
/// A file is a sequence of TFRecords: `uint64 length`, `uint32 masked CRC-32C of length`,
/// `data`, `uint32 masked CRC-32C of data` (little-endian), each `data` an `Event` protobuf.
/// Scalars come from `Summary.Value.simple_value` (PyTorch's SummaryWriter, TF1) and from
/// scalar `tensor` values of type float or double (TF2's `tf.summary.scalar`, PyTorch with
/// `new_style=True`), with the event's step and wall time.
///
/// The protobuf fields are read by a small hand decoder (`ProtobufReader`): only these few
/// fields of four messages are needed, and swift-protobuf's generated code would add a
/// package and its build time for nothing else.
///
/// Robustness: a record whose end is not written yet waits for the next update (never an
/// error). A record whose data CRC is wrong is skipped with a warning; a length whose CRC is
/// wrong cannot be trusted, so the reader looks for the next valid record header byte by
/// byte, with a warning. Malformed protobuf is skipped too. Nothing in a file can make the
/// reader fail.
public struct TensorBoardEventReader {
    public let path: String
    /// Bytes read from the file so far (the next read starts here).
    private var fileOffset = 0
    /// Bytes read but not yet used (an incomplete record).
    private var pending: [UInt8] = []
    /// The points read so far, in file order.
    public private(set) var points: [MetricPoint] = []
    /// What was skipped and why, in order.
    public private(set) var warnings: [String] = []

    public init(path: String) { self.path = path }

    /// Reads what was appended since the last update; returns whether `points` changed.
    @discardableResult
    public mutating func update() -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        guard let size = try? handle.seekToEnd() else { return false }
        if Int(size) < fileOffset {
            // Truncated (a writer started over): read it again from the start.
            fileOffset = 0
            pending = []
            points = []
        }
        guard Int(size) > fileOffset else { return false }
        try? handle.seek(toOffset: UInt64(fileOffset))
        guard let data = try? handle.readToEnd(), !data.isEmpty else { return false }
        fileOffset += data.count
        pending += data
        let before = points.count
        let consumed = consume(pending, baseOffset: fileOffset - pending.count)
        pending.removeFirst(consumed)
        return points.count != before
    }

    /// Reads the complete records in `bytes` (which start at file offset `baseOffset`);
    /// returns the bytes used.
    mutating func consume(_ bytes: [UInt8], baseOffset: Int) -> Int {
        var offset = 0
        var resyncFrom: Int?
        while bytes.count - offset >= 12 {
            let length = Int(truncatingIfNeeded: Self.littleEndian64(bytes, offset))
            let lengthCRC = Self.littleEndian32(bytes, offset + 8)
            guard CRC32C.masked(bytes[offset..<offset + 8]) == lengthCRC, length >= 0, length < 1 << 30 else {
                if resyncFrom == nil { resyncFrom = baseOffset + offset }
                offset += 1  // look for the next record header
                continue
            }
            if let start = resyncFrom {
                warnings.append(
                    "\(path): skipped \(baseOffset + offset - start) bytes at offset \(start) (bad record length CRC)")
                resyncFrom = nil
            }
            guard bytes.count - offset >= 12 + length + 4 else { break }  // still being written
            let data = bytes[(offset + 12)..<(offset + 12 + length)]
            let dataCRC = Self.littleEndian32(bytes, offset + 12 + length)
            if CRC32C.masked(data) == dataCRC {
                read(event: data)
            } else {
                warnings.append("\(path): skipped the record at offset \(baseOffset + offset) (bad data CRC)")
            }
            offset += 12 + length + 4
        }
        if let start = resyncFrom {
            // Keep the last 11 bytes: they may begin a header not fully written yet.
            let keep = max(offset, bytes.count - 11)
            if keep > start - baseOffset {
                warnings.append(
                    "\(path): skipped \(keep - (start - baseOffset)) bytes at offset \(start) (bad record length CRC)")
            }
            return keep
        }
        return offset
    }

    /// Reads one `Event`.
    private mutating func read(event: ArraySlice<UInt8>) {
        var wallTime: Double?
        var step: Int64 = 0  // proto3 leaves a 0 out
        var summaries: [ArraySlice<UInt8>] = []
        var reader = ProtobufReader(event)
        while let field = reader.next() {
            switch (field.number, field.value) {
            case (1, .fixed64(let bits)): wallTime = Double(bitPattern: bits)
            case (2, .varint(let value)): step = Int64(bitPattern: value)
            case (5, .bytes(let summary)): summaries.append(summary)
            default: break
            }
        }
        guard reader.isValid else { return }
        for summary in summaries {
            var values = ProtobufReader(summary)
            while let field = values.next() {
                guard field.number == 1, case .bytes(let value) = field.value,
                    let (tag, number) = Self.scalar(value)
                else { continue }
                points.append(
                    MetricPoint(
                        key: tag, step: Double(step), time: wallTime, value: number, source: .tensorboard))
            }
        }
    }

    /// The tag and value of a `Summary.Value` holding a scalar, else nil.
    static func scalar(_ bytes: ArraySlice<UInt8>) -> (String, Double)? {
        var tag: String?
        var nodeName: String?
        var value: Double?
        var reader = ProtobufReader(bytes)
        while let field = reader.next() {
            switch (field.number, field.value) {
            case (1, .bytes(let text)): tag = String(decoding: text, as: UTF8.self)
            case (7, .bytes(let text)): nodeName = String(decoding: text, as: UTF8.self)
            case (2, .fixed32(let bits)): value = Double(Float(bitPattern: bits))
            case (8, .bytes(let tensor)): value = scalar(tensor: tensor) ?? value
            default: break
            }
        }
        guard reader.isValid, let value, let key = tag ?? nodeName, !key.isEmpty else { return nil }
        return (key, value)
    }

    /// The value of a `TensorProto` of one float or double element, else nil.
    static func scalar(tensor bytes: ArraySlice<UInt8>) -> Double? {
        var dtype: UInt64 = 0
        var elements = 1
        var content: ArraySlice<UInt8>?
        var floats: [Double] = []
        var doubles: [Double] = []
        var reader = ProtobufReader(bytes)
        while let field = reader.next() {
            switch (field.number, field.value) {
            case (1, .varint(let value)): dtype = value
            case (2, .bytes(let shape)): elements = elementCount(shape: shape)
            case (4, .bytes(let bytes)): content = bytes
            case (5, .fixed32(let bits)): floats.append(Double(Float(bitPattern: bits)))
            case (5, .bytes(let packed)):
                var index = packed.startIndex
                while index + 4 <= packed.endIndex {
                    floats.append(Double(Float(bitPattern: littleEndian32(Array(packed[index..<index + 4]), 0))))
                    index += 4
                }
            case (6, .fixed64(let bits)): doubles.append(Double(bitPattern: bits))
            case (6, .bytes(let packed)):
                var index = packed.startIndex
                while index + 8 <= packed.endIndex {
                    doubles.append(Double(bitPattern: littleEndian64(Array(packed[index..<index + 8]), 0)))
                    index += 8
                }
            default: break
            }
        }
        guard reader.isValid, elements == 1 else { return nil }
        switch dtype {
        case 1:  // DT_FLOAT
            if let content, content.count == 4 { return Double(Float(bitPattern: littleEndian32(Array(content), 0))) }
            return floats.count == 1 ? floats[0] : nil
        case 2:  // DT_DOUBLE
            if let content, content.count == 8 { return Double(bitPattern: littleEndian64(Array(content), 0)) }
            return doubles.count == 1 ? doubles[0] : nil
        default:
            return nil
        }
    }

    /// The number of elements a `TensorShapeProto` describes (1 for a scalar); -1 when unknown.
    private static func elementCount(shape: ArraySlice<UInt8>) -> Int {
        var count = 1
        var reader = ProtobufReader(shape)
        while let field = reader.next() {
            switch (field.number, field.value) {
            case (2, .bytes(let dim)):
                var dimReader = ProtobufReader(dim)
                var size: Int64 = 0
                while let dimField = dimReader.next() {
                    if dimField.number == 1, case .varint(let value) = dimField.value {
                        size = Int64(bitPattern: value)
                    }
                }
                count = size < 0 ? -1 : count * Int(min(size, 1 << 20))
            case (3, .varint(let unknown)) where unknown != 0: return -1
            default: break
            }
            if count < 0 { return -1 }
        }
        return count
    }

    static func littleEndian32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
        var value: UInt32 = 0
        for index in 0..<4 { value |= UInt32(bytes[offset + index]) << (8 * index) }
        return value
    }

    static func littleEndian64(_ bytes: [UInt8], _ offset: Int) -> UInt64 {
        var value: UInt64 = 0
        for index in 0..<8 { value |= UInt64(bytes[offset + index]) << (8 * index) }
        return value
    }

    /// The whole file read at once.
    public static func read(path: String) -> (points: [MetricPoint], warnings: [String]) {
        var reader = TensorBoardEventReader(path: path)
        reader.update()
        return (reader.points, reader.warnings)
    }
}

/// Reads protobuf wire format field by field. Stops (and is no longer `isValid`) at the first
/// malformed byte.
struct ProtobufReader {
    enum Value {
        case varint(UInt64)
        case fixed64(UInt64)
        case fixed32(UInt32)
        case bytes(ArraySlice<UInt8>)
    }

    private let bytes: ArraySlice<UInt8>
    private var index: Int
    private(set) var isValid = true

    init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        index = bytes.startIndex
    }

    /// The next field, or nil at the end (or at malformed input).
    mutating func next() -> (number: Int, value: Value)? {
        guard isValid, index < bytes.endIndex else { return nil }
        guard let key = varint() else { return fail() }
        let number = Int(key >> 3)
        switch key & 7 {
        case 0:
            guard let value = varint() else { return fail() }
            return (number, .varint(value))
        case 1:
            guard bytes.endIndex - index >= 8 else { return fail() }
            var value: UInt64 = 0
            for shift in 0..<8 { value |= UInt64(bytes[index + shift]) << (8 * shift) }
            index += 8
            return (number, .fixed64(value))
        case 2:
            guard let length = varint(), length <= UInt64(bytes.endIndex - index) else { return fail() }
            let slice = bytes[index..<index + Int(length)]
            index += Int(length)
            return (number, .bytes(slice))
        case 5:
            guard bytes.endIndex - index >= 4 else { return fail() }
            var value: UInt32 = 0
            for shift in 0..<4 { value |= UInt32(bytes[index + shift]) << (8 * shift) }
            index += 4
            return (number, .fixed32(value))
        default:
            return fail()  // groups (3, 4) are not used by these messages
        }
    }

    private mutating func fail() -> (number: Int, value: Value)? {
        isValid = false
        return nil
    }

    private mutating func varint() -> UInt64? {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while index < bytes.endIndex, shift < 64 {
            let byte = bytes[index]
            index += 1
            value |= UInt64(byte & 0x7f) << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
        }
        return nil
    }
}

/// CRC-32C (Castagnoli), as TFRecord uses it, with TensorFlow's mask.
enum CRC32C {
    private static let table: [UInt32] = (0..<256).map { index in
        var crc = UInt32(index)
        for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        return crc
    }

    static func checksum(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        table.withUnsafeBufferPointer { table in
            for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xff)] ^ (crc >> 8) }
        }
        return crc ^ 0xFFFF_FFFF
    }

    /// `((crc >> 15) | (crc << 17)) + 0xa282ead8`.
    static func masked(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        let crc = checksum(bytes)
        return ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8
    }
}
