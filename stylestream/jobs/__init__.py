"""What each command does, one module per job: video files (video), cameras (camera), images
and Gatys optimization (images), StyleGAN grids and walks (generate). Each job returns a
summary dict; stylestream.api validates the options first, the CLI prints the summary."""
