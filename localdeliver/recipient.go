package localdeliver

import (
	"container/list"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/gqmail/gqmail/internal/address"
	"github.com/gqmail/gqmail/internal/outcome"
	"github.com/gqmail/gqmail/localdeliver/dotqmail"
)

// RecipientInfo is what the helper says about a local address before any
// mail is sent to it.
type RecipientInfo struct {
	// Exists is whether a delivery would find a mailbox: the address
	// resolves to an account, and either has no extension or the
	// account has a .qmail file for its extension (or a -default one).
	Exists bool
	// Account is the account the address resolves to ("alice", or the
	// alias account for an address only ~alias handles); empty when the
	// address does not exist.
	Account string
}

// CheckRecipient asks the helper whether recipient exists, as a delivery
// would find it. recipient is the address exactly as the engine would
// hand it to Deliver: a local address after virtualdomains rewriting
// (route.Route's Deliver, "prefix-local@domain" for a virtual domain).
//
// Answers are cached for a short while (recipientTTL), keyed by the
// lowercased address, so that a flood of RCPTs is not a flood of lookups.
// An error is temporary trouble (the helper is gone, ctx ended, the lookup
// failed) and is never cached; the caller should then accept the address
// and let the delivery decide.
func (c *Client) CheckRecipient(ctx context.Context, recipient string) (RecipientInfo, error) {
	if err := checkRecipientField(recipient); err != nil {
		return RecipientInfo{}, err
	}
	key := address.Lower(recipient)
	if info, ok := c.rcpts.get(key); ok {
		return info, nil
	}
	a, err := c.ask(ctx, tagRcptInfo, nil, func(tok []byte) [][]byte { return encodeRcpt(tok, recipient) })
	if err != nil {
		return RecipientInfo{}, err
	}
	if a.rcpt.Err != nil {
		return RecipientInfo{}, fmt.Errorf("checking %s: %w", recipient, a.rcpt.Err)
	}
	c.rcpts.put(key, a.rcpt.Info)
	return a.rcpt.Info, nil
}

// The recipient cache's bounds: how long an answer is kept, and how many.
// A new address is known in half a minute, a removed one gone as fast.
const (
	recipientTTL         = 30 * time.Second
	recipientNegativeTTL = 30 * time.Second
	recipientCacheSize   = 10000
)

// recipientCache keeps answers in the order they came; the oldest goes
// first when it expires or room is needed.
type recipientCache struct {
	positive, negative time.Duration
	max                int

	mu      sync.Mutex
	entries map[string]*list.Element
	order   *list.List // of *cacheEntry, oldest first
}

type cacheEntry struct {
	key     string
	info    RecipientInfo
	expires time.Time
}

func newRecipientCache() *recipientCache {
	return &recipientCache{
		positive: recipientTTL, negative: recipientNegativeTTL, max: recipientCacheSize,
		entries: map[string]*list.Element{}, order: list.New(),
	}
}

func (rc *recipientCache) get(key string) (RecipientInfo, bool) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	el := rc.entries[key]
	if el == nil {
		return RecipientInfo{}, false
	}
	e := el.Value.(*cacheEntry)
	if !time.Now().Before(e.expires) {
		rc.remove(el)
		return RecipientInfo{}, false
	}
	return e.info, true
}

func (rc *recipientCache) put(key string, info RecipientInfo) {
	ttl := rc.negative
	if info.Exists {
		ttl = rc.positive
	}
	now := time.Now()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if el := rc.entries[key]; el != nil {
		rc.remove(el)
	}
	for el := rc.order.Front(); el != nil && !now.Before(el.Value.(*cacheEntry).expires); el = rc.order.Front() {
		rc.remove(el)
	}
	for rc.order.Len() >= rc.max && rc.order.Len() > 0 {
		rc.remove(rc.order.Front())
	}
	rc.entries[key] = rc.order.PushBack(&cacheEntry{key: key, info: info, expires: now.Add(ttl)})
}

func (rc *recipientCache) remove(el *list.Element) {
	delete(rc.entries, el.Value.(*cacheEntry).key)
	rc.order.Remove(el)
}

// checkRecipient answers rcpt/1 as qmail-lspawn and qmail-local would
// decide a delivery to recipient, without delivering: the same Resolver
// (so an address of the aliases table exists), the same home checks, and
// dotqmail.Find's lookup order for an extension. A permanent failure of the delivery is "does not exist"; a
// temporary one is an error.
//
// It runs as root, so it never opens anything in the home and never
// follows a link there: presenceFS answers Find's questions with lstat
// alone. A .qmail name that is a link, an unreadable file or an empty one
// exists; what it holds is the delivery's business.
func (h *Helper) checkRecipient(recipient string) (RecipientInfo, error) {
	if strings.LastIndexByte(recipient, '@') == 0 {
		// qmail-lspawn's trash address: every delivery to it succeeds.
		return RecipientInfo{Exists: true}, nil
	}
	id, err := h.Resolver.Resolve(recipient)
	if outcome.IsPermanent(err) {
		return RecipientInfo{}, nil
	}
	if err != nil {
		return RecipientInfo{}, err
	}
	if !h.SetCredentials && id.UID != os.Getuid() {
		return RecipientInfo{}, outcome.Temporary("Not running as root, so I deliver only as uid %d, but %s belongs to %s (uid %d). (#4.3.0)",
			os.Getuid(), recipient, id.User, id.UID)
	}
	// The checks of the delivery child's first steps, which defer.
	fi, err := os.Stat(id.Home)
	if err != nil {
		return RecipientInfo{}, outcome.TemporaryErr(err, "Unable to switch to %s: %s. (#4.3.0)", id.Home, outcome.SystemText(err))
	}
	if !fi.IsDir() {
		return RecipientInfo{}, outcome.Temporary("Unable to switch to %s: not a directory. (#4.3.0)", id.Home)
	}
	if fi.Mode().Perm()&0o002 != 0 {
		return RecipientInfo{}, outcome.Temporary("Uh-oh: home directory is writable. (#4.7.0)")
	}
	if fi.Mode()&os.ModeSticky != 0 {
		return RecipientInfo{}, outcome.Temporary("Home directory is sticky: user is editing his .qmail file. (#4.2.1)")
	}
	if id.Dash == "" || id.Alias != nil {
		// No .qmail, or an empty one, is the default delivery; an alias
		// of the aliases table is delivered by its own lines.
		return RecipientInfo{Exists: true, Account: id.User}, nil
	}
	t, err := dotqmail.Find(presenceFS{home: id.Home}, id.Dash, id.Ext)
	if err != nil {
		return RecipientInfo{}, err
	}
	if t.Name == "" {
		return RecipientInfo{}, nil
	}
	return RecipientInfo{Exists: true, Account: id.User}, nil
}

// presenceFS is a dotqmail.FS for root that never opens a file nor
// follows a link: Open and Stat lstat the name in home, and an "opened"
// file is empty. A regular file or a symbolic link exists, and looks to
// Find like a regular file of mode 0600 (so that a writable .qmail, which
// the delivery will defer, still exists); any other kind does not, as Find
// decides for a directory or a FIFO. Find never gives it a name holding a
// "/".
type presenceFS struct {
	home string
}

func (p presenceFS) Open(name string) (fs.File, error) {
	fi, err := p.Stat(name)
	if err != nil {
		return nil, err
	}
	return presenceFile{fi}, nil
}

func (p presenceFS) Stat(name string) (fs.FileInfo, error) {
	fi, err := os.Lstat(filepath.Join(p.home, name))
	if err != nil {
		return nil, err
	}
	if fi.Mode().IsRegular() || fi.Mode()&fs.ModeSymlink != 0 {
		return presenceInfo{fi}, nil
	}
	return fi, nil
}

// presenceInfo is a regular file or a link, shown as a private regular
// file.
type presenceInfo struct{ fs.FileInfo }

func (presenceInfo) Mode() fs.FileMode { return 0o600 }

// presenceFile is an "opened" file that holds nothing.
type presenceFile struct{ fi fs.FileInfo }

func (f presenceFile) Stat() (fs.FileInfo, error) { return f.fi, nil }
func (presenceFile) Read([]byte) (int, error)     { return 0, io.EOF }
func (presenceFile) Close() error                 { return nil }
