package traditional

import (
	"sync"

	"github.com/blobvalet/blobvalet/errs"
)

// Slots caps the upload requests in flight: in all, and per user. A
// request beyond either cap is refused at once rather than queued.
type Slots struct {
	max, perUser int
	mu           sync.Mutex
	total        int
	users        map[string]int
}

// NewSlots returns Slots for max requests in all and perUser per user.
func NewSlots(max, perUser int) *Slots {
	return &Slots{max: max, perUser: perUser, users: map[string]int{}}
}

// Take takes a slot for user: errs.Busy when the service is full,
// errs.TooManyRequests when user has perUser requests in flight. release
// gives it back.
func (s *Slots) Take(user string) (release func(), err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.total >= s.max:
		return nil, errs.E("upload", errs.Busy, "the service is taking as many uploads as it can; retrying in a moment sends the chunk")
	case s.users[user] >= s.perUser:
		return nil, errs.E("upload", errs.TooManyRequests, "too many of your chunks at once; retrying in a moment sends it")
	}
	s.total++
	s.users[user]++
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.total--
			if s.users[user]--; s.users[user] == 0 {
				delete(s.users, user)
			}
		})
	}, nil
}
