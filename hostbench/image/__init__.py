"""One debootstrap Debian tree packaged three ways: Docker image, VM disk + kernel, chroot."""
