package accounts

// HoldHashSlot takes one hash slot until the returned func is called, so a test can
// fill the semaphore deterministically.
func (s *Service) HoldHashSlot() (release func()) {
	s.hash.slots <- struct{}{}
	return func() { <-s.hash.slots }
}
