"""Train a small neural network on scikit-learn's bundled digits data set and
track it with trainyard: per-epoch loss and accuracy, the config, and the
trained model and its confusion matrix as artifacts.

    trainyard run --wait -- python examples/train_digits.py --epochs 30

Inside a trainyard job, trainyard.init() attaches to the job's run by itself;
run directly (python examples/train_digits.py) it creates a standalone run.
"""

import argparse
import json
import os
import pickle
import tempfile

import numpy as np
from sklearn.datasets import load_digits
from sklearn.metrics import confusion_matrix, log_loss
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

import trainyard


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    config = {
        "model": {"type": "mlp", "hidden": args.hidden},
        "optimizer": {"name": "adam", "lr": args.lr, "batch_size": args.batch_size},
        "epochs": args.epochs,
        "seed": args.seed,
    }
    with trainyard.init(project="examples", name="digits-mlp", config=config) as run:
        X, y = load_digits(return_X_y=True)
        X_train, X_val, y_train, y_val = train_test_split(X, y, test_size=0.25, random_state=args.seed, stratify=y)
        scaler = StandardScaler().fit(X_train)
        X_train, X_val = scaler.transform(X_train), scaler.transform(X_val)

        # Batches are cut by the loop below; "auto" lets the last, smaller one through.
        model = MLPClassifier(hidden_layer_sizes=(args.hidden,), learning_rate_init=args.lr,
                              batch_size="auto", random_state=args.seed)
        classes = np.unique(y)
        rng = np.random.default_rng(args.seed)
        best = 0.0
        for epoch in range(args.epochs):
            order = rng.permutation(len(X_train))
            for start in range(0, len(order), args.batch_size):
                batch = order[start:start + args.batch_size]
                model.partial_fit(X_train[batch], y_train[batch], classes=classes)
            train_loss = log_loss(y_train, model.predict_proba(X_train), labels=classes)
            val_loss = log_loss(y_val, model.predict_proba(X_val), labels=classes)
            train_acc = model.score(X_train, y_train)
            val_acc = model.score(X_val, y_val)
            best = max(best, val_acc)
            run.log({"train/loss": train_loss, "val/loss": val_loss,
                     "train/accuracy": train_acc, "val/accuracy": val_acc}, step=epoch)
            print(f"epoch {epoch:3d}  train loss {train_loss:.4f}  val loss {val_loss:.4f}  val acc {val_acc:.4f}", flush=True)
        run.summary["best_val_accuracy"] = best

        with tempfile.TemporaryDirectory() as tmp:
            model_path = os.path.join(tmp, "model.pkl")
            with open(model_path, "wb") as f:
                pickle.dump({"scaler": scaler, "model": model}, f)
            cm_path = os.path.join(tmp, "confusion_matrix.json")
            with open(cm_path, "w") as f:
                json.dump(confusion_matrix(y_val, model.predict(X_val)).tolist(), f)
            run.log_artifact(model_path)
            run.log_artifact(cm_path)
        print(f"best validation accuracy {best:.4f}; run {run.id}", flush=True)


if __name__ == "__main__":
    main()
