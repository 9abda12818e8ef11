"""seqconv: long-sequence models built on global convolutions."""

from pathlib import Path

from setuptools import find_packages, setup

README = Path(__file__).with_name("README.md")

setup(
    name="seqconv",
    version="0.1.0",
    description="Long-sequence models built on global convolutions: SGConv, long convs, Hyena, TCN/TCNCA, "
    "FFT and FlashButterfly (Triton) backends, HuggingFace-compatible models and an LRA runner.",
    long_description=README.read_text(encoding="utf-8") if README.exists() else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.9",
    packages=find_packages(include=["seqconv", "seqconv.*", "lra", "lra.*", "experiments", "experiments.*"]),
    install_requires=[
        "torch>=2.1",
        "einops>=0.7",
        "transformers>=5",
        "datasets>=2.14",
        "tokenizers>=0.15",
        "safetensors>=0.4",
        "tqdm>=4.60",
        "numpy>=1.24",
        "pillow>=9",
        "pyyaml>=6",
        "triton>=2.1; platform_system == 'Linux'",
    ],
    extras_require={
        "dev": ["pytest>=7", "pytest-xdist>=3", "hypothesis>=6", "matplotlib>=3.6", "ruff>=0.4", "accelerate>=0.26"],
        "plots": ["matplotlib>=3.6"],
    },
    entry_points={"console_scripts": ["seqconv-lra=lra.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "License :: OSI Approved :: Apache Software License",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
