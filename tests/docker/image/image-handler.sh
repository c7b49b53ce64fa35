# Handler baked into the test image for Image-package functions.
echo "image function says hi to $(cat)"
