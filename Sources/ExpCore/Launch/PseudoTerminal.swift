import Glibc

/// A new pseudo-terminal: the master end stays with exp, the child opens the slave by path
/// (after `setsid`, so the slave becomes its controlling terminal). The owner closes it.
struct PseudoTerminal {
    /// The master end: non-blocking, close-on-exec.
    private(set) var master: Int32
    /// The slave's device path (`/dev/pts/N`).
    let slavePath: String
    /// The slave, held open by exp until the child has started.
    private(set) var slave: Int32

    /// Opens a pseudo-terminal whose settings and size copy exp's terminal, if it has one.
    init(copyingSettingsFrom settingsFD: Int32?, sizeFrom sizeFD: Int32) throws(LaunchSetupError) {
        let master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard master >= 0 else { throw LaunchSetupError("could not open a pseudo-terminal: \(errorText(errno))") }
        var name = [CChar](repeating: 0, count: 128)
        guard let grantpt = GNU.grantpt, let unlockpt = GNU.unlockpt, let ptsnameR = GNU.ptsnameR,
            grantpt(master) == 0, unlockpt(master) == 0, ptsnameR(master, &name, name.count) == 0
        else {
            let reason = errorText(errno)
            closeFD(master)
            throw LaunchSetupError("could not set up a pseudo-terminal: \(reason)")
        }
        let path = string(fromNulTerminated: name)
        let slave = retryingEINTR { open(path, O_RDWR | O_NOCTTY | O_CLOEXEC) }
        guard slave >= 0 else {
            let reason = errorText(errno)
            closeFD(master)
            throw LaunchSetupError("could not open \(path): \(reason)")
        }
        if let settingsFD {
            var settings = termios()
            if tcgetattr(settingsFD, &settings) == 0 {
                _ = tcsetattr(slave, TCSANOW, &settings)
            }
        }
        self.master = aboveStandardStreams(master)
        self.slave = aboveStandardStreams(slave)
        self.slavePath = path
        addStatusFlags(self.master, O_NONBLOCK)
        copyWindowSize(from: sizeFD)
    }

    /// Gives the pseudo-terminal the window size of the terminal at `fd` (nothing if it isn't one).
    func copyWindowSize(from fd: Int32) {
        var size = winsize()
        if ioctl(fd, UInt(TIOCGWINSZ), &size) == 0 {
            _ = ioctl(master, UInt(TIOCSWINSZ), &size)
        }
    }

    /// Closes exp's copy of the slave once the child holds its own: the master then reads
    /// end-of-file (EIO) when the last process holding the slave is gone.
    mutating func closeSlave() {
        closeFD(slave)
        slave = -1
    }

    /// Closes both ends.
    mutating func close() {
        closeSlave()
        closeFD(master)
        master = -1
    }
}

/// Why the command could not be started, in words for `LaunchOutcome.startError`.
struct LaunchSetupError: Error {
    var message: String
    init(_ message: String) { self.message = message }
}
