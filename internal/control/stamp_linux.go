package control

import (
	"io/fs"
	"os"
	"syscall"
)

func stampOf(fi fs.FileInfo) stamp {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return stamp{size: fi.Size(), mode: uint32(fi.Mode()), mtime: fi.ModTime().UnixNano()}
	}
	return stamp{
		dev:   uint64(st.Dev),
		ino:   uint64(st.Ino),
		size:  int64(st.Size),
		mode:  uint32(st.Mode),
		mtime: st.Mtim.Nano(),
		ctime: st.Ctim.Nano(),
	}
}

// openNonblock opens path for reading without blocking on a FIFO that has no
// writer; on a regular file O_NONBLOCK changes nothing.
func openNonblock(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
}
