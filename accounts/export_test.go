package accounts

// HoldHashSlot takes one hash slot until the returned func is called, so a test can
// fill the semaphore deterministically.
func (s *Service) HoldHashSlot() (release func()) {
	s.hash.slots <- struct{}{}
	return func() { <-s.hash.slots }
}

// OnPhotoDecode makes f run inside each photo slot, just before the decode, so a
// test can count decodes running at once.
func (s *Service) OnPhotoDecode(f func()) { s.photoHook = f }

// HoldPhotoSlots takes every photo slot until the returned func is called.
func (s *Service) HoldPhotoSlots() (release func()) {
	for range cap(s.photos) {
		s.photos <- struct{}{}
	}
	return func() {
		for range cap(s.photos) {
			<-s.photos
		}
	}
}
