import Testing

/// Every test that looks at the real kernel runs inside this serialized suite: they share the test
/// process's sockets and children, and the fd-readlink counts must not be disturbed by a sibling test.
@Suite(.serialized) struct KernelTests {}
