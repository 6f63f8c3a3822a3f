package dotqmail

import (
	"bytes"
	"io/fs"
	"strings"
	"syscall"
	"time"
)

// fakeFile is one entry of fakeFS: contents and mode, or an error that Open
// and Stat of its name return, or (with readErr) a Read failure.
type fakeFile struct {
	data    string
	mode    fs.FileMode
	err     error
	readErr error
}

// fakeFS is a home directory in memory that records every name asked for.
type fakeFS struct {
	files   map[string]fakeFile
	opened  []string
	statted []string
}

func newFakeFS(files map[string]fakeFile) *fakeFS {
	return &fakeFS{files: files}
}

func (f *fakeFS) Open(name string) (fs.File, error) {
	f.opened = append(f.opened, name)
	e, ok := f.files[name]
	switch {
	case !ok:
		return nil, &fs.PathError{Op: "open", Path: name, Err: syscall.ENOENT}
	case e.err != nil:
		return nil, &fs.PathError{Op: "open", Path: name, Err: e.err}
	}
	return &openFile{info: fakeInfo{name: name, size: int64(len(e.data)), mode: e.mode},
		r: strings.NewReader(e.data), readErr: e.readErr}, nil
}

func (f *fakeFS) Stat(name string) (fs.FileInfo, error) {
	f.statted = append(f.statted, name)
	e, ok := f.files[name]
	switch {
	case !ok:
		return nil, &fs.PathError{Op: "stat", Path: name, Err: syscall.ENOENT}
	case e.err != nil:
		return nil, &fs.PathError{Op: "stat", Path: name, Err: e.err}
	}
	return fakeInfo{name: name, size: int64(len(e.data)), mode: e.mode}, nil
}

type openFile struct {
	info    fakeInfo
	r       *strings.Reader
	readErr error
}

func (o *openFile) Stat() (fs.FileInfo, error) { return o.info, nil }
func (o *openFile) Close() error               { return nil }
func (o *openFile) Read(p []byte) (int, error) {
	if o.readErr != nil {
		return 0, &fs.PathError{Op: "read", Path: o.info.name, Err: o.readErr}
	}
	return o.r.Read(p)
}

type fakeInfo struct {
	name string
	size int64
	mode fs.FileMode
}

func (i fakeInfo) Name() string       { return i.name }
func (i fakeInfo) Size() int64        { return i.size }
func (i fakeInfo) Mode() fs.FileMode  { return i.mode }
func (i fakeInfo) ModTime() time.Time { return time.Time{} }
func (i fakeInfo) IsDir() bool        { return i.mode.IsDir() }
func (i fakeInfo) Sys() any           { return nil }

// file is a regular, user-only .qmail file holding data.
func file(data string) fakeFile { return fakeFile{data: data, mode: 0o644} }

// allNames is a fake that answers ENOENT for everything but records names.
func allNames() *fakeFS { return newFakeFS(map[string]fakeFile{}) }

// lines splits contents as Parse does, for checking fuzz results.
func lines(contents []byte) [][]byte {
	if len(contents) == 0 || contents[len(contents)-1] != '\n' {
		contents = append(contents[:len(contents):len(contents)], '\n')
	}
	return bytes.Split(contents[:len(contents)-1], []byte("\n"))
}
