// Package servertls owns the SMTP server's certificate: it loads the PEM
// files named in qmail.toml's [tls], serves them to TLS handshakes, and
// re-reads them when they change on disk, so that a renewed certificate is
// served from the next handshake on without a restart.
//
// # Guarantees
//
//   - Only TLS 1.2 and 1.3 are negotiated.
//   - A handshake always gets the last certificate that loaded: a file
//     caught half written, or replaced by a broken one, is reported once
//     (through Warn) and the previous certificate stays in use.
//   - The files are looked at (stat, not read) at most once a second, so a
//     flood of handshakes does not become a flood of file reads.
package servertls

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"
)

// Loader serves the certificate in CertFile and KeyFile (the same file
// when KeyFile is empty).
type Loader struct {
	CertFile string
	KeyFile  string
	// Warn reports a certificate that could not be (re)loaded.
	Warn func(format string, args ...any)
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	mu       sync.Mutex
	cert     *tls.Certificate
	stamp    fileStamp // of the files cert came from
	tried    fileStamp // of the files last tried, good or bad
	lastLook time.Time
}

// fileStamp tells two versions of the files apart without reading them.
type fileStamp struct {
	certIno, keyIno     uint64
	certSize, keySize   int64
	certMtime, keyMtime time.Time
}

func (l *Loader) keyFile() string {
	if l.KeyFile == "" {
		return l.CertFile
	}
	return l.KeyFile
}

func (l *Loader) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

// Load reads the files now. It returns the error that made them unusable;
// the daemon makes it fatal when TLS is required.
func (l *Loader) Load() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lastLook = l.now()
	return l.reloadLocked(true)
}

// Ready reports whether a certificate is loaded, so that STARTTLS may be
// offered. It looks at the files first, as a handshake would.
func (l *Loader) Ready() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.refreshLocked()
	return l.cert != nil
}

// Config returns a server configuration that asks the Loader for the
// certificate at each handshake.
func (l *Loader) Config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.refreshLocked()
			if l.cert == nil {
				return nil, fmt.Errorf("no usable certificate in %s", l.CertFile)
			}
			return l.cert, nil
		},
	}
}

// refreshLocked reloads the files when they changed since the last look,
// at most once a second.
func (l *Loader) refreshLocked() {
	now := l.now()
	if now.Sub(l.lastLook) < time.Second && now.After(l.lastLook) {
		return
	}
	l.lastLook = now
	l.reloadLocked(false)
}

// reloadLocked loads the files if their stamp differs from the last one
// tried (or always, when force is set).
func (l *Loader) reloadLocked(force bool) error {
	st, err := l.stampFiles()
	if err != nil {
		if force || l.tried != (fileStamp{}) {
			l.warn("TLS certificate: %v; %s", err, l.keeping())
		}
		l.tried = fileStamp{}
		return err
	}
	if !force && st == l.tried {
		return nil
	}
	l.tried = st
	cert, err := tls.LoadX509KeyPair(l.CertFile, l.keyFile())
	if err != nil {
		err = fmt.Errorf("loading %s and %s: %w", l.CertFile, l.keyFile(), err)
		l.warn("TLS certificate: %v; %s", err, l.keeping())
		return err
	}
	l.cert, l.stamp = &cert, st
	return nil
}

func (l *Loader) keeping() string {
	if l.cert != nil {
		return "serving the certificate loaded before"
	}
	return "STARTTLS is not offered until it can be loaded"
}

func (l *Loader) warn(format string, args ...any) {
	if l.Warn != nil {
		l.Warn(format, args...)
	}
}

func (l *Loader) stampFiles() (fileStamp, error) {
	var st fileStamp
	var err error
	if st.certIno, st.certSize, st.certMtime, err = stat(l.CertFile); err != nil {
		return st, err
	}
	if st.keyIno, st.keySize, st.keyMtime, err = stat(l.keyFile()); err != nil {
		return st, err
	}
	return st, nil
}

func stat(name string) (ino uint64, size int64, mtime time.Time, err error) {
	fi, err := os.Stat(name)
	if err != nil {
		return 0, 0, time.Time{}, err
	}
	if !fi.Mode().IsRegular() {
		return 0, 0, time.Time{}, fmt.Errorf("%s is not a regular file", name)
	}
	sys, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, time.Time{}, errors.New("no inode numbers on this system")
	}
	return sys.Ino, fi.Size(), fi.ModTime(), nil
}
