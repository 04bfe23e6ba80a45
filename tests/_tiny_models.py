"""Tiny random language models, built and saved by the tests themselves (no download).

A BERT-style SMILES model (character WordPiece vocabulary), an ESM-style protein model and a
sentence-transformers directory around the BERT: hidden size 16, 2 layers.
"""

from __future__ import annotations

from pathlib import Path

CHARS = list("CcONnSsPFIlBr()[]=#@+-/\\123456789%H")
WORDS = ["interferon", "beta", "cytokine", "type", "i", "a", "the", "of", "apple", "pie", "recipe"]
AMINO = list("ACDEFGHIKLMNPQRSTVWYXBUZO")
HIDDEN = 16


def build(root: Path) -> dict[str, Path]:
    """Save the three tiny models under ``root``; returns {'smiles', 'protein', 'text'}."""
    from scotm.priors._deps import set_offline

    set_offline()  # before transformers is imported: nothing may reach a model hub
    import torch
    import transformers as tf
    from sentence_transformers import SentenceTransformer

    try:
        from sentence_transformers.sentence_transformer import modules as models
    except ImportError:  # sentence-transformers < 6
        from sentence_transformers import models

    torch.manual_seed(0)
    small = dict(
        hidden_size=HIDDEN,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=128,
    )
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokens = list(dict.fromkeys(specials + CHARS + ["##" + c for c in CHARS] + WORDS))
    bert_tok = tf.BertTokenizer(vocab={t: i for i, t in enumerate(tokens)}, do_lower_case=False)
    bert = tf.BertModel(tf.BertConfig(vocab_size=len(tokens), **small))
    smiles = root / "tiny-smiles-bert"
    bert.save_pretrained(smiles)
    bert_tok.save_pretrained(smiles)

    esm_tokens = ["<cls>", "<pad>", "<eos>", "<unk>"] + AMINO + ["<mask>"]
    vocab = root / "esm_vocab.txt"
    vocab.write_text("\n".join(esm_tokens) + "\n")
    esm_tok = tf.EsmTokenizer(vocab_file=str(vocab))
    esm = tf.EsmModel(
        tf.EsmConfig(
            vocab_size=len(esm_tokens), pad_token_id=1, mask_token_id=len(esm_tokens) - 1, **small
        ),
        add_pooling_layer=False,
    )
    protein = root / "tiny-esm"
    esm.save_pretrained(protein)
    esm_tok.save_pretrained(protein)

    text = root / "tiny-sentence-transformer"
    word = models.Transformer(str(smiles))
    dim = getattr(word, "get_embedding_dimension", None) or word.get_word_embedding_dimension
    pool = models.Pooling(dim(), "mean")
    SentenceTransformer(modules=[word, pool], device="cpu").save(str(text))
    return {"smiles": smiles, "protein": protein, "text": text}
