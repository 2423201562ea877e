package accounts_test

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/accounts"
	"github.com/consentkit/consentkit/privacy"
)

// A photo's thumbnail fits ThumbnailSize with the photo's proportions, is made for
// whoever may see the photo and for no one else, and a note has none.
func TestThumbnail(t *testing.T) {
	e := newEnv(t)
	e.member("ann@example.org", "correct horse")
	e.member("bob@example.org", "correct horse")
	_, ann := e.signIn("ann@example.org", "correct horse")
	_, bob := e.signIn("bob@example.org", "correct horse")

	wide := image.NewRGBA(image.Rect(0, 0, 1200, 600))
	for x := range 1200 {
		for y := range 600 {
			if x < 600 {
				wide.Set(x, y, color.RGBA{200, 0, 0, 255})
			} else {
				wide.Set(x, y, color.RGBA{0, 0, 200, 255})
			}
		}
	}
	var src bytes.Buffer
	require.NoError(t, jpeg.Encode(&src, wide, nil))
	private, err := e.svc.AddPhoto(ann, "wide", accounts.Private, src.Bytes())
	require.NoError(t, err)
	small, err := e.svc.AddPhoto(ann, "small", accounts.Community, flatPNG(t, 40, 20))
	require.NoError(t, err)

	thumb, err := e.svc.Thumbnail(ann, private.ID)
	require.NoError(t, err)
	img, err := jpeg.Decode(bytes.NewReader(thumb))
	require.NoError(t, err)
	assert.Equal(t, image.Rect(0, 0, accounts.ThumbnailSize, accounts.ThumbnailSize/2), img.Bounds(), "the longest side fits, the proportions kept")
	r, _, b, _ := img.At(accounts.ThumbnailSize/4, accounts.ThumbnailSize/4).RGBA()
	assert.Greater(t, r, b, "the left half stays red")
	r, _, b, _ = img.At(3*accounts.ThumbnailSize/4, accounts.ThumbnailSize/4).RGBA()
	assert.Greater(t, b, r, "the right half stays blue")

	thumb, err = e.svc.Thumbnail(bob, small.ID)
	require.NoError(t, err, "a community photo's thumbnail is for every member")
	img, err = jpeg.Decode(bytes.NewReader(thumb))
	require.NoError(t, err)
	assert.Equal(t, image.Rect(0, 0, 40, 20), img.Bounds(), "a small photo is not enlarged")
	r, g, b, _ := img.At(10, 10).RGBA()
	assert.Greater(t, min(r, g, b), uint32(0xf000), "transparent parts turn white")

	_, err = e.svc.Thumbnail(bob, private.ID)
	assert.ErrorIs(t, err, privacy.ErrNotFound, "another member's private photo")
	note, err := e.svc.AddText(ann, accounts.KindNote, "a note", "text", accounts.Private)
	require.NoError(t, err)
	_, err = e.svc.Thumbnail(ann, note.ID)
	assert.Equal(t, "id", privacy.FieldOf(err))
}
