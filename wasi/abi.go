package wasi

// Numbers and layouts of the WASI preview 1 ABI
// (wasi_snapshot_preview1.witx).

// rights is a set of WASI rights.
type rights uint64

const (
	rightFdDatasync rights = 1 << iota
	rightFdRead
	rightFdSeek
	rightFdFdstatSetFlags
	rightFdSync
	rightFdTell
	rightFdWrite
	rightFdAdvise
	rightFdAllocate
	rightPathCreateDirectory
	rightPathCreateFile
	rightPathLinkSource
	rightPathLinkTarget
	rightPathOpen
	rightFdReaddir
	rightPathReadlink
	rightPathRenameSource
	rightPathRenameTarget
	rightPathFilestatGet
	rightPathFilestatSetSize
	rightPathFilestatSetTimes
	rightFdFilestatGet
	rightFdFilestatSetSize
	rightFdFilestatSetTimes
	rightPathSymlink
	rightPathRemoveDirectory
	rightPathUnlinkFile
	rightPollFdReadwrite
	rightSockShutdown
	rightSockAccept

	rightsAll = rightSockAccept<<1 - 1
)

// Rights that apply to each kind of descriptor. A descriptor never holds
// rights outside its kind's set, whatever it asked for.
const (
	// rightsFile: regular files.
	rightsFile = rightFdDatasync | rightFdRead | rightFdSeek | rightFdFdstatSetFlags |
		rightFdSync | rightFdTell | rightFdWrite | rightFdAdvise | rightFdAllocate |
		rightFdFilestatGet | rightFdFilestatSetSize | rightFdFilestatSetTimes |
		rightPollFdReadwrite

	// rightsDir: directories.
	rightsDir = rightFdFdstatSetFlags | rightFdSync | rightFdDatasync | rightFdReaddir |
		rightFdFilestatGet | rightFdFilestatSetTimes | rightPollFdReadwrite |
		rightPathCreateDirectory | rightPathCreateFile | rightPathLinkSource |
		rightPathLinkTarget | rightPathOpen | rightPathReadlink | rightPathRenameSource |
		rightPathRenameTarget | rightPathFilestatGet | rightPathFilestatSetSize |
		rightPathFilestatSetTimes | rightPathSymlink | rightPathRemoveDirectory |
		rightPathUnlinkFile

	// rightsStream: pipes, terminals and other devices that cannot seek.
	// wasi-libc's isatty is "a character device without seek and tell".
	rightsStream = rightFdRead | rightFdWrite | rightFdFdstatSetFlags | rightFdFilestatGet |
		rightPollFdReadwrite

	// rightsSocket: sockets.
	rightsSocket = rightsStream | rightSockShutdown | rightSockAccept

	// rightsWrite are the rights that need the file open for writing.
	rightsWrite = rightFdWrite | rightFdAllocate | rightFdFilestatSetSize
	// rightsRead are the rights that need it open for reading.
	rightsRead = rightFdRead | rightFdReaddir
)

// fdflags
const (
	fdflagAppend   uint16 = 1 << 0
	fdflagDsync    uint16 = 1 << 1
	fdflagNonblock uint16 = 1 << 2
	fdflagRsync    uint16 = 1 << 3
	fdflagSync     uint16 = 1 << 4
	fdflagsAll            = fdflagAppend | fdflagDsync | fdflagNonblock | fdflagRsync | fdflagSync
)

// oflags
const (
	oflagCreat     uint16 = 1 << 0
	oflagDirectory uint16 = 1 << 1
	oflagExcl      uint16 = 1 << 2
	oflagTrunc     uint16 = 1 << 3
	oflagsAll             = oflagCreat | oflagDirectory | oflagExcl | oflagTrunc
)

// lookupflags
const lookupSymlinkFollow uint32 = 1 << 0

// fstflags
const (
	fstAtim    uint16 = 1 << 0
	fstAtimNow uint16 = 1 << 1
	fstMtim    uint16 = 1 << 2
	fstMtimNow uint16 = 1 << 3
	fstAll            = fstAtim | fstAtimNow | fstMtim | fstMtimNow
)

// clockid
const (
	clockRealtime uint32 = iota
	clockMonotonic
	clockProcessCPUTime
	clockThreadCPUTime
)

// whence
const (
	whenceSet uint32 = iota
	whenceCur
	whenceEnd
)

// eventtype
const (
	eventClock uint8 = iota
	eventFdRead
	eventFdWrite
)

const (
	eventrwHangup       uint16 = 1 << 0 // eventrwflags
	subclockAbstime     uint16 = 1 << 0 // subclockflags
	riflagRecvPeek      uint16 = 1 << 0 // riflags
	riflagRecvWaitall   uint16 = 1 << 1
	sdflagRd            uint8  = 1 << 0 // sdflags
	sdflagWr            uint8  = 1 << 1
	preopentypeDir      uint8  = 0
	maxAdvice           uint32 = 5
	direntSize                 = 24 // dirent: d_next u64, d_ino u64, d_namlen u32, d_type u8
	filestatSize               = 64
	fdstatSize                 = 24
	prestatSize                = 8
	subscriptionSize           = 48
	eventSize                  = 32
	iovecSize                  = 8
	maxIovecs                  = 1024    // IOV_MAX
	maxTransfer                = 1 << 30 // bytes moved by one read or write call, at most
	maxPathLen                 = 4096    // PATH_MAX
	maxSymlinkTargetLen        = 4096
)
